-- @route GET /p
SELECT $1