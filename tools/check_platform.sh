#!/usr/bin/env bash
# The platform behind one contract: outside the OS files (src/os_linux.c,
# src/os_windows.c and src/os_windows_fault.c: the only ones with
# <windows.h>) no library source
# includes an operating-system header. Allowed everywhere: the C and C++
# standard headers (but <signal.h>, which is POSIX signals here). Allowed in
# one place each: <pthread.h> in os.h (its Linux mutex and thread types: on
# Windows winpthreads and __thread allocate with malloc, so threads, mutexes
# and thread-locals go through os.h), the compiler's unwinder (panic.c),
# ucontext for the fallback switch (arch/), the sanitizer and Valgrind
# interfaces (sanitize.h).
#
#   bash tools/check_platform.sh SRC_DIR
set -euo pipefail
src=$1
std='assert|complex|ctype|errno|fenv|float|inttypes|iso646|limits|locale|math|setjmp|stdalign|stdarg|stdatomic|stdbool|stddef|stdint|stdio|stdlib|stdnoreturn|string|tgmath|threads|time|uchar|wchar|wctype'
status=0
n=0
while IFS= read -r f; do
  n=$((n + 1))
  rel=${f#"$src"/}
  case "$rel" in os_linux.c|os_windows.c|os_windows_fault.c) continue ;; esac
  while IFS= read -r inc; do
    h=${inc#<}; h=${h%>}
    case "$h" in
      exception|cstring|cstddef|cstdint|cstdlib|new) continue ;;
    esac
    if [[ "$h" =~ ^($std)\.h$ ]]; then continue; fi
    case "$rel:$h" in
      os.h:pthread.h|panic.c:unwind.h|cxx_boundary.cc:cxxabi.h|arch/ctx.h:ucontext.h|arch/ctx_ucontext.c:ucontext.h) continue ;;
      sanitize.h:sanitizer/*|sanitize.h:valgrind/*) continue ;;
    esac
    echo "check_platform: src/$rel includes <$h>: OS calls go through src/os.h (src/os_linux.c, src/os_windows*.c)" >&2
    status=1
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\(<[^>]*>\).*/\1/p' "$f")
  # Nor uses pthread or the compiler's thread-locals itself (os.h says why;
  # a call is a name followed by its parenthesis, so prose passes).
  [ "$rel" = os.h ] && continue
  while IFS= read -r use; do
    echo "check_platform: src/$rel:${use%%:*} uses ${use#*:}: threads, mutexes and thread-locals go through src/os.h" >&2
    status=1
  done < <(grep -noE '\b(__thread|_Thread_local|pthread_[a-z_]*_t|pthread_[a-z_]+\()' "$f" || true)
done < <(find "$src" -name '*.c' -o -name '*.h' -o -name '*.cc' | sort)
[ $status -eq 0 ] && echo "check_platform: $n files, no OS header outside os_linux.c and os_windows*.c, no pthread or __thread outside os.h"
exit $status
