-- The stored tables: what was imported, and the record of each import.
-- Params: none (run once on a new database; see dashboard/store.py for versioning).
-- Grain: clients one row per client; sessions per (client, time, type); scores per (client, time, instrument).
-- Keys are enforced by the importer (and checked by store.check_integrity), not by indexes or sequences:
-- bulk loads of millions of rows stay fast, --replace needs no index juggling, and the same schema serves a
-- DuckLake store (which has neither). Import ids come from import_counter (schema 4).

create table if not exists schema_info (
    schema_version integer not null,
    created_at timestamp not null,
    app_version varchar not null,
    dataset varchar not null  -- 'clinic' or 'demo' (the synthetic demo database)
);

create table if not exists instruments (
    name varchar not null,  -- unique: instruments.store replaces a definition whole
    min_score double not null,
    max_score double not null,
    remission_max double,
    remission_label varchar,
    reliable_change double,
    reliable_change_basis varchar,
    recall_days integer,
    n_items integer,
    item_min double,
    item_max double,
    safety_item integer,  -- the item whose score > 0 flags suicidal ideation (PHQ-9 item 9)
    aliases varchar[],
    bands struct(max double, label varchar)[],
    is_builtin boolean not null
);

create table if not exists import_log (
    import_id integer not null,  -- unique: store.next_import_id
    file_name varchar not null,
    sha256 varchar not null,
    kind varchar,
    imported_at timestamp not null,
    rows_read bigint not null,
    records_read bigint not null,
    imported bigint not null,
    rejected bigint not null,
    unchanged_duplicates bigint not null,
    replaced bigint not null,
    status varchar not null,
    message varchar
);

create table if not exists import_rejects (
    import_id integer not null,
    line bigint,
    column_name varchar,
    reason varchar not null,
    value_masked varchar
);

create table if not exists clients (
    client_id varchar not null,
    site varchar,
    condition varchar,
    age_band varchar,
    sex varchar,
    prior_treatments integer,
    import_id integer
);

create table if not exists sessions (
    client_id varchar not null,
    session_at timestamp not null,
    session_type varchar not null,
    modality varchar,
    modality_label varchar,
    dose_mg double,
    clinician_id varchar,
    site varchar,
    session_id varchar,
    import_id integer
);

create table if not exists scores (
    client_id varchar not null,
    assessed_at timestamp not null,
    instrument varchar not null,
    score double not null,
    items smallint[],
    session_id varchar,
    import_id integer
);
