# Helpers for littlebit's own tests.
#
# LITTLEBIT_PYTHON: the one interpreter every test tool runs with: Debian's /usr/bin/python3,
# which scripts/setup.sh installs numpy and torch for (never the first python3 on PATH). Tests
# pass it to their scripts as the environment variable LITTLEBIT_PYTHON.
set(LITTLEBIT_PYTHON "/usr/bin/python3" CACHE FILEPATH
    "Python interpreter of the test tools (scripts/setup.sh installs its packages)")

# littlebit_add_expect_test(NAME name EXPECT pass|fail [MATCH regex] COMMAND cmd args...)
# A test that checks the exit status (0 for pass; 1..127, an error and not a crash, for fail) and,
# when MATCH is given, that the whole output matches the POSIX extended regex (tests/tools/expect.sh).
function(littlebit_add_expect_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;EXPECT;MATCH" "COMMAND")
  if(NOT arg_EXPECT MATCHES "^(pass|fail)$")
    message(FATAL_ERROR "littlebit_add_expect_test(${arg_NAME}): EXPECT must be pass or fail")
  endif()
  add_test(NAME ${arg_NAME} COMMAND sh ${PROJECT_SOURCE_DIR}/tests/tools/expect.sh ${arg_EXPECT} "${arg_MATCH}" ${arg_COMMAND})
  set_tests_properties(${arg_NAME} PROPERTIES ENVIRONMENT "LITTLEBIT_PYTHON=${LITTLEBIT_PYTHON}")
endfunction()

# Sets LITTLEBIT_PYTHON in the environment of the given tests.
function(littlebit_test_python)
  set_tests_properties(${ARGN} PROPERTIES ENVIRONMENT "LITTLEBIT_PYTHON=${LITTLEBIT_PYTHON}")
endfunction()
