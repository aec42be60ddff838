-- wrk script: GET /api/bounties/{random id in 1..100000}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/bounties/" .. math.random(1, 100000))
end
