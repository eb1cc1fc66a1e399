-- An add-on cancelled runs to the end of the billing period it was cancelled in (`ends_on`, the
-- next period's first day): usable before that day, not renewed from it. Null: it goes on.
ALTER TABLE addons ADD COLUMN ends_on date;
