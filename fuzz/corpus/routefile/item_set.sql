-- Renames an item from a JSON body {"name": ...}; evicts item:{id} and items everywhere.
-- A missing or null name violates NOT NULL (23502 -> 400) and evicts nothing.
-- @route   POST /ct/items/{id:int}
-- @body    json max 4k
-- @returns one
-- @invalidates item:{id} items
UPDATE keel_cache_tests.items SET name = :body::jsonb ->> 'name'
WHERE id = :id::bigint
RETURNING json_build_object('id', id, 'name', name);
