# Warnings are PRIVATE: they apply to our own targets and never leak to
# consumers of the installed package.
function(pprocess_set_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
    $<$<BOOL:${PPROCESS_WARNINGS_AS_ERRORS}>:-Werror>)
endfunction()
