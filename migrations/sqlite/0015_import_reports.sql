-- The report of a school file imported in the staff console (issue 16): the counts and the
-- bad rows, kept so that the registrar's page can show it after the upload and offer its
-- rows as CSV. Only the school's registrars read it.
CREATE TABLE import_reports (
    report_id TEXT PRIMARY KEY,
    school_code TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    report TEXT NOT NULL
);
