-- The personal phone a member sets at onboarding; theirs on every instance they belong to.
ALTER TABLE members ADD COLUMN phone text;
