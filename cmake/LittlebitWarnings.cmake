# Warning and sanitizer flags for littlebit's own targets (tests, benchmarks, examples).
# Never applied to the exported littlebit::littlebit target: consumers choose their own flags.

function(littlebit_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                 -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
                                 -Woverloaded-virtual -Wnull-dereference -Wdouble-promotion>)
    if(LITTLEBIT_WERROR)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
    endif()
  elseif(MSVC)
    target_compile_options(${target} PRIVATE /W4 $<$<BOOL:${LITTLEBIT_WERROR}>:/WX>)
  endif()
  if(LITTLEBIT_SANITIZE)
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-fsanitize=address,undefined -fno-sanitize-recover=all
                                 -fno-omit-frame-pointer>)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
