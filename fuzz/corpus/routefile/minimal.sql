-- @route GET /ping
SELECT 1