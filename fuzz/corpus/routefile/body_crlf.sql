-- @route POST /b
-- @body json max 64k
SELECT :body::jsonb
