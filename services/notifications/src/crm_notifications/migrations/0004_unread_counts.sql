-- Unread notifications per user and instance, kept as notifications are filed and read, so a new
-- notification costs one row's update instead of counting the user's whole history.
CREATE TABLE unread_counts (
    user_id     text NOT NULL,
    instance_id text NOT NULL,
    unread      int  NOT NULL CHECK (unread >= 0),
    PRIMARY KEY (user_id, instance_id)
);
INSERT INTO unread_counts (user_id, instance_id, unread)
SELECT user_id, instance_id, count(*) FILTER (WHERE read_at IS NULL) FROM notifications GROUP BY 1, 2;
