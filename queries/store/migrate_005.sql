-- Schema 5: instruments carry their LOINC codes (the total's and each item's), read by the FHIR import.
-- Params: none
alter table instruments add column if not exists loinc varchar;
alter table instruments add column if not exists loinc_items varchar[];
