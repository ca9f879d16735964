-- Schema 2: record the settings the derived tables were built with (shown in methods, checked on start).
-- Params: none
-- Grain: derived_info holds one row, replaced at each rebuild.
create table if not exists derived_info (
    built_at timestamp not null,
    settings_json varchar not null
);
