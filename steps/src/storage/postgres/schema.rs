//! The catalog's tables (migrations of component `catalog`).
//!
//! Every record has real columns for its id, the ids it refers to (foreign keys), its owner
//! or user, its timestamps and what it is looked up by, and the whole record as `jsonb` in
//! `record` (what is read back). Ids are `COLLATE "C"`: they sort by bytes, as the embedded
//! store's keys do.

use techpack_engine::store::postgres::Migration;

pub(super) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: r#"
CREATE TABLE products (
    id          text COLLATE "C" PRIMARY KEY,
    name        text NOT NULL,
    owner       text,
    created_at  timestamptz NOT NULL,
    record      jsonb NOT NULL
);
CREATE INDEX products_owner ON products (owner, created_at DESC, id DESC);

CREATE TABLE image_blobs (
    sha256      text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes       bytea NOT NULL,
    size        bigint NOT NULL CHECK (size = length(bytes)),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Photos are compressed already: stored out of line without another try at compressing.
ALTER TABLE image_blobs ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE image_revisions (
    id                text COLLATE "C" PRIMARY KEY,
    product_id        text COLLATE "C" NOT NULL REFERENCES products (id),
    view              text NOT NULL,
    version           integer NOT NULL CHECK (version > 0),
    is_current        boolean NOT NULL,
    sha256            text NOT NULL,
    mime              text NOT NULL,
    width             integer NOT NULL,
    height            integer NOT NULL,
    -- `upload` or `regenerated` (from `from_revision_id`).
    origin            text NOT NULL,
    from_revision_id  text COLLATE "C" REFERENCES image_revisions (id),
    created_at        timestamptz NOT NULL,
    record            jsonb NOT NULL,
    UNIQUE (product_id, view, version)
);
-- Exactly one current revision per view, enforced.
CREATE UNIQUE INDEX image_revisions_current ON image_revisions (product_id, view) WHERE is_current;

CREATE TABLE analyses (
    id            text COLLATE "C" PRIMARY KEY,
    product_id    text COLLATE "C" NOT NULL REFERENCES products (id),
    revision_ids  text[] NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    record        jsonb NOT NULL
);
-- A product's analyses, newest first (and oldest first, read backwards).
CREATE INDEX analyses_product ON analyses (product_id, created_at DESC, id DESC);

CREATE TABLE close_ups (
    id                  text COLLATE "C" PRIMARY KEY,
    product_id          text COLLATE "C" NOT NULL REFERENCES products (id),
    analysis_id         text COLLATE "C" NOT NULL REFERENCES analyses (id),
    source_revision_id  text COLLATE "C" NOT NULL REFERENCES image_revisions (id),
    detail              text NOT NULL,
    sha256              text NOT NULL,
    provider            text NOT NULL,
    model               text NOT NULL,
    created_at          timestamptz NOT NULL,
    record              jsonb NOT NULL
);
CREATE INDEX close_ups_product ON close_ups (product_id, id);

CREATE TABLE sketches (
    id           text COLLATE "C" PRIMARY KEY,
    product_id   text COLLATE "C" NOT NULL REFERENCES products (id),
    analysis_id  text COLLATE "C" NOT NULL REFERENCES analyses (id),
    view         text NOT NULL,
    sha256       text NOT NULL,
    width        integer NOT NULL,
    height       integer NOT NULL,
    provider     text NOT NULL,
    model        text NOT NULL,
    created_at   timestamptz NOT NULL,
    record       jsonb NOT NULL
);
CREATE INDEX sketches_product ON sketches (product_id, id);

CREATE TABLE analysis_cache (
    -- hex sha256 of the key's fields (the same digest the embedded store keys by).
    key             text COLLATE "C" PRIMARY KEY,
    image_sha256    text NOT NULL,
    operation       text NOT NULL,
    schema_version  text NOT NULL,
    provider        text NOT NULL,
    model           text NOT NULL,
    variant         text NOT NULL,
    value           jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ai_operation_logs (
    id                 text COLLATE "C" PRIMARY KEY,
    operation          text NOT NULL,
    provider           text NOT NULL,
    model              text NOT NULL,
    kind               text NOT NULL,
    user_name          text,
    run_id             text,
    step_id            text,
    status             text NOT NULL,
    error              text,
    prompt_tokens      bigint NOT NULL,
    completion_tokens  bigint NOT NULL,
    total_tokens       bigint NOT NULL,
    latency_ms         bigint NOT NULL,
    at                 timestamptz NOT NULL,
    record             jsonb NOT NULL
);
CREATE INDEX ai_operation_logs_run ON ai_operation_logs (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX ai_operation_logs_user ON ai_operation_logs (user_name, id) WHERE user_name IS NOT NULL;
"#,
}];
