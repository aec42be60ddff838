-- Private and cached: each subject gets its own entry; `at` shows when the row was made.
-- @route   GET /a/me
-- @auth    required
-- @returns one
-- @cache   30s private
SELECT json_build_object('sub', :auth.sub::text, 'at', clock_timestamp()::text);
