-- A cancelled private instance is charged nothing further: nothing more is bought for it.
ALTER TABLE instances ADD COLUMN cancelled_at timestamptz;
