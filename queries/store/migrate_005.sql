-- Schema 5: instruments carry their LOINC codes (the total's and each item's), read by the FHIR import; column
-- mappings saved by name (dashboard/ingest/mapping.py).
-- Params: none
alter table instruments add column if not exists loinc varchar;
alter table instruments add column if not exists loinc_items varchar[];
create table if not exists column_mappings (
    name varchar not null,  -- unique: mapping.save replaces a mapping of the same name
    spec varchar not null,  -- JSON: {"columns": {field: column}, "values": {field: {value: term}}}
    saved_at timestamp not null
);
