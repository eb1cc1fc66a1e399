-- An instance's business hours (time zone, week, holidays) for business-hours claim timers.
CREATE TABLE business_hours (
    instance_id text PRIMARY KEY,
    hours       jsonb NOT NULL
);
