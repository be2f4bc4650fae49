CREATE TABLE votes (voter_id text PRIMARY KEY, vote text NOT NULL);
