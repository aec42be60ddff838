-- wrk script: GET /api/bounties/{random id in 1..1000} (a hot set that fits any cache)
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/bounties/" .. math.random(1, 1000))
end
