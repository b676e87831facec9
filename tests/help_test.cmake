# cmake -DTOOL=<program> -P help_test.cmake: `<program> --help` exits 0 and prints a
# complete help: a usage line, the options with --help among them, and the exit status.
execute_process(COMMAND ${TOOL} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${TOOL} --help exited ${rc}:\n${out}\n${err}")
endif()
foreach(part "usage:" "--help" "exit status")
  string(FIND "${out}" "${part}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${TOOL} --help on stdout lacks '${part}':\n${out}")
  endif()
endforeach()
