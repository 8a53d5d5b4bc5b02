# cmake -DOUT=file -DCOMMAND=program,arg,... -P stdout_to.cmake
# Runs the command and writes its standard output to OUT, only when it succeeds.
string(REPLACE "," ";" COMMAND "${COMMAND}")
execute_process(COMMAND ${COMMAND} OUTPUT_FILE ${OUT}.tmp RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "${COMMAND}: ${rc}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
