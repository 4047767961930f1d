-- The catalog: one row per published title with its metadata as a JSON
-- document, and its genres beside it for browsing by genre. Times are
-- Unix milliseconds.

CREATE TABLE IF NOT EXISTS catalog_titles (
  id         VARCHAR(64) NOT NULL PRIMARY KEY,
  doc        TEXT NOT NULL,
  level      VARCHAR(8) NOT NULL,
  added_ms   BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS catalog_titles_added ON catalog_titles (added_ms, id);

CREATE TABLE IF NOT EXISTS catalog_genres (
  title_id VARCHAR(64) NOT NULL,
  genre    VARCHAR(64) NOT NULL,
  added_ms BIGINT NOT NULL,
  PRIMARY KEY (genre, title_id)
);
CREATE INDEX IF NOT EXISTS catalog_genres_title ON catalog_genres (title_id);
