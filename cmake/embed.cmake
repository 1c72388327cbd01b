# Embeds every file of a folder into a target as a generated C++ table:
#   namespace mailpipe::embedded { const embedded_file <var>[]; size_t <var>_count; }
# sorted by file name. Used for the SQL migrations and the policy data of config/.
function(mailpipe_embed_dir target dir var)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/*)
  list(FILTER files EXCLUDE REGEX "/\\.[^/]*$")
  list(SORT files)
  set(out ${CMAKE_BINARY_DIR}/embedded/${var}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DDIR=${dir} -DVAR=${var} -DOUT=${out}
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_script.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_script.cmake
    COMMENT "Embedding ${dir}")
  target_sources(${target} PRIVATE ${out})
endfunction()
