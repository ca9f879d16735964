-- Schema 4: import ids come from a one-row counter, not a sequence (DuckLake stores have no sequences; a counter
-- updated in the import's own transaction also makes two writers of a DuckLake store conflict, and one retry,
-- instead of taking the same id). It starts above every id already used.
-- Params: none
-- Grain: import_counter has one row.
create table if not exists import_counter (last_import_id integer not null);
insert into import_counter select coalesce((select max(import_id) from import_log), 0);
