-- An invitation e-mail's token, sealed to notifications' key, kept only until the e-mail is sent
-- (the body holds a slot where the opened token goes at sending time).
ALTER TABLE emails ADD COLUMN sealed_token text;
