# add_protoset(TARGET OUT ROOT): every ROOT/**/*.proto, ROOT the import root (the buf layout:
# ROOT/inv/v1/inv.proto is `import "inv/v1/inv.proto"`), in one descriptor set OUT with its
# imports, built by the custom target TARGET with `all`.
function(add_protoset target out root)
  file(GLOB_RECURSE protos CONFIGURE_DEPENDS ${root}/*.proto)
  file(RELATIVE_PATH shown ${CMAKE_SOURCE_DIR} ${root})
  file(RELATIVE_PATH shown_out ${CMAKE_BINARY_DIR} ${out})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${PROTOC} -I${root} -I${PROTOBUF_INCLUDE} --include_imports
            --descriptor_set_out=${out} ${protos}
    DEPENDS ${protos}
    COMMENT "protoc ${shown}/**/*.proto -> ${shown_out}")
  add_custom_target(${target} ALL DEPENDS ${out})
endfunction()
