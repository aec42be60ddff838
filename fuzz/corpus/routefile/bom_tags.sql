-- @route GET /x/{a}
-- @query q int
-- @cache 1m swr 30s
-- @tags x:{a}:{q} all
SELECT
  :a,
  :q
  ;