-- @route GET /ping
SELECT 1; SELECT 2