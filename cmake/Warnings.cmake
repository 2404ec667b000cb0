# The one list of warning flags; -Werror in the builds `make test` does.
add_compile_options(-Wall -Wextra -Wno-unused-parameter -Wmissing-prototypes
  -Wstrict-prototypes -Wpointer-arith -Wformat=2 -Wundef -Wshadow
  -Wno-format-nonliteral
  $<$<BOOL:${CT_WERROR}>:-Werror>)
if(CT_SANITIZE)
  add_compile_options(-fsanitize=${CT_SANITIZE} -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${CT_SANITIZE})
endif()
if(CT_FUZZ)
  # coverage for libFuzzer in every library the targets link
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
