-- grpc.reflection.v1 and v1alpha ServerReflection, built into the host: grpcurl, buf curl,
-- Postman and grpcui list and call every method from the loaded protosets, with no local
-- .proto files.
local host = ...

local M = {
  service = { "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection" },
}

local function not_found(what)
  return { error_response = { error_code = grpc.status.NOT_FOUND, error_message = what .. " not found" } }
end

local function files(found, what)
  if not found then return not_found(what) end
  return { file_descriptor_response = { file_descriptor_proto = found } }
end

local function answer(req)
  if req.list_services ~= nil then
    local list = {}
    for i, name in ipairs(host.services()) do list[i] = { name = name } end
    return { list_services_response = { service = list } }
  elseif req.file_by_filename ~= nil then
    return files(host.files_for_name(req.file_by_filename), "file " .. req.file_by_filename)
  elseif req.file_containing_symbol ~= nil then
    return files(host.files_for_symbol(req.file_containing_symbol), "symbol " .. req.file_containing_symbol)
  elseif req.all_extension_numbers_of_type ~= nil then
    local name = req.all_extension_numbers_of_type
    if not host.has_message(name) then return not_found("type " .. name) end
    return { all_extension_numbers_response = { base_type_name = name, extension_number = {} } }
  elseif req.file_containing_extension ~= nil then
    local ext = req.file_containing_extension
    return not_found("extension " .. ext.extension_number .. " of " .. ext.containing_type)
  end
  return { error_response = { error_code = grpc.status.INVALID_ARGUMENT, error_message = "empty request" } }
end

function M.ServerReflectionInfo(call)
  for req in call:messages() do
    local reply = answer(req)
    reply.valid_host = req.host
    reply.original_request = req
    call:send(reply)
  end
end

return M
