-- The school's answer to a student's 有误 conclusion (issue 16): accepted (it became a
-- correction) or rejected with a reason the student reads. Cleared when the student concludes
-- again.
ALTER TABLE record_checks_v1 ADD COLUMN answer text;
ALTER TABLE record_checks_v1 ADD COLUMN answer_accepted bigint;
ALTER TABLE record_checks_v1 ADD COLUMN answered_at bigint;
