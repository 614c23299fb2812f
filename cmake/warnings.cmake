# mq_set_warnings(target): the project's warning policy (errors with MQ_WARNINGS_AS_ERRORS).
function(mq_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow
    # GCC 12 at -O3 reports a false -Wrestrict inside std::string's operator+ (GCC bug 105329).
    $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
    $<$<BOOL:${MQ_WARNINGS_AS_ERRORS}>:-Werror>)
endfunction()
