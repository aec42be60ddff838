-- Post a message to a conversation the caller is a member of (404 otherwise, as if it did
-- not exist: message_post() in schema.sql). The conversation's cached pages are evicted, so
-- the members' next read shows it.
-- @route       POST /api/conversations/{id:int}/messages
-- @auth        required
-- @body        json max 16k
-- @field       body text required minlen 1 maxlen 4000
-- @returns     one status 201
-- @invalidates conversation:{id}
SELECT message_post(:id::bigint, :auth.sub::bigint, :body.body);
