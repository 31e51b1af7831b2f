-- A ClickHouse table for `authscope report --format ecs` (or `export --format ecs`), one row a
-- document. The nested ECS objects land in the dotted columns with
-- input_format_import_nested_json; fields the table does not name are skipped. The arrays
-- are kept as their JSON text (dotted Array columns would be one Nested structure, whose
-- arrays must have one length): JSONExtract(`event.type`, 'Array(String)') reads them.
-- `authscope` is one column of the JSON type (ClickHouse 25.3 or later): `authscope.scheme`,
-- `authscope.handshake.id`, `authscope.finding.evidence` ... as paths in it.
--
--   clickhouse-client --multiquery < docs/ecs/clickhouse.sql
--   authscope report --format ecs captures/ | clickhouse-client \
--     --input_format_import_nested_json=1 --input_format_skip_unknown_fields=1 \
--     --date_time_input_format=best_effort \
--     --query "INSERT INTO authscope FORMAT JSONEachRow"
CREATE TABLE IF NOT EXISTS authscope
(
    `@timestamp` DateTime64(6, 'UTC'),
    `event.kind` LowCardinality(String),
    `event.dataset` LowCardinality(String),
    `event.category` String,
    `event.type` String,
    `event.outcome` LowCardinality(String),
    `event.action` LowCardinality(String),
    `event.code` LowCardinality(String),
    `event.reason` String,
    `event.severity` UInt8,
    `event.duration` Int64,
    `source.ip` String,
    `source.port` UInt16,
    `destination.ip` String,
    `destination.port` UInt16,
    `destination.domain` String,
    `network.community_id` String,
    `url.original` String,
    `url.full` String,
    `http.request.method` LowCardinality(String),
    `http.response.status_code` UInt16,
    `user.name` String,
    `user.domain` String,
    `host.name` String,
    `tls.established` Bool,
    `error.message` String,
    `log.file.path` String,
    `message` String,
    -- authscope's own object whole, its paths typed where the queries need them.
    `authscope` JSON(`handshake.id` Nullable(UInt64), `scheme` LowCardinality(String),
                     `finding.code` LowCardinality(String))
)
ENGINE = MergeTree
ORDER BY (`event.dataset`, `@timestamp`);
