-- bench/http.sh's handler: SayHello GETs the URL in the request's name (a kept-alive
-- connection of the host's pool) and replies "Hello " .. body, as bench/peers/gohttp does in Go.
return {
  SayHello = function(req) return { message = "Hello " .. http.request(req.name).body } end,
}
