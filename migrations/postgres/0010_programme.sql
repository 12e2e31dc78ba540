-- Programme messages (CPD-hour announcements, reminders, broadcasts, practice of the week)
-- go only to teachers who want them. A teacher's choice lives in the profile field `notices`
-- ("off" after STOP); it is copied into a column so that an audience is counted and read by
-- SQL without opening every profile. Existing choices are carried over.

ALTER TABLE teachers ADD COLUMN notices TEXT;
UPDATE teachers SET notices = profile::json ->> 'notices'
    WHERE profile LIKE '%"notices"%';
CREATE INDEX teachers_by_district ON teachers (district);
