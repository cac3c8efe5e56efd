-- Each counted password attempt has an id, so that the attempt a correct
-- password turned out to be can be taken back: attempts are counted before
-- the password is checked (see session.Throttle.Begin).
ALTER TABLE login_failures ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
