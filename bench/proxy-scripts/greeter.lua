-- bench/proxy.sh's handler: SayHello calls SayHello of the Greeter at $PROXY_TARGET with the
-- same request and returns its reply, as bench/peers/goproxy does in Go. The client is made
-- once, here at the top level; the channel behind it is the worker's, made on the first call.
local backend = grpc.client(os.getenv("PROXY_TARGET") or "127.0.0.1:31201")

return {
  SayHello = function(req) return (backend:call("helloworld.Greeter/SayHello", req)) end,
}
