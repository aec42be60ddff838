-- Full-text search over title (weight A) and description (weight B), best matches first.
-- q takes web-search syntax: words, "quoted phrases", -excluded, or. Index: bounties_search.
-- @route   GET /api/bounties/search
-- @query   q text min 1 max 200
-- @query   limit int default 20 min 1 max 50
-- @returns many
-- @cache   120s
-- @tags    bounties
-- @rate    20/min
SELECT row_to_json(r)
FROM (SELECT b.id, b.user_id, b.title, b.amount_cents, b.location, b.status, b.created_at,
             ts_rank(b.search, q.query) AS rank
      FROM bounties AS b,
           websearch_to_tsquery('english', :q) AS q(query)
      WHERE b.search @@ q.query
      ORDER BY rank DESC, b.id DESC
      LIMIT :limit::int) AS r;
