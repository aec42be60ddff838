-- Full-text search over title (weight A) and description (weight B), best matches first.
-- q takes web-search syntax: words, "quoted phrases", -excluded, or. Index: bounties_search.
-- @route   GET /api/bounties/search
-- @query   q text min 1 max 200
-- @query   limit int default 20 min 1 max 50
-- @returns many
-- @cache   120s
-- @rate    20/min
-- @tags    bounties
SELECT json_build_object(
           'id', b.id,
           'user_id', b.user_id,
           'title', b.title,
           'amount_cents', b.amount_cents,
           'location', b.location,
           'status', b.status,
           'created_at', b.created_at,
           'rank', ts_rank(b.search, q.query))
FROM bounties AS b,
     websearch_to_tsquery('english', :q) AS q(query)
WHERE b.search @@ q.query
ORDER BY ts_rank(b.search, q.query) DESC, b.id DESC
LIMIT :limit::int;
