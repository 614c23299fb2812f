# mq_set_warnings(target): the project's warning policy (errors with MQ_WARNINGS_AS_ERRORS).
function(mq_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion -Wshadow
    $<$<BOOL:${MQ_WARNINGS_AS_ERRORS}>:-Werror>)
endfunction()
