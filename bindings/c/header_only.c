/*
 * header_only.c: a program that includes nothing but queuelink.h.
 *
 * `make test-header` compiles it as C99 and as C++17 with every warning an
 * error, so the header builds on its own in both languages.
 */
#include "queuelink.h"

int main(void)
{
    return ql_version() / 10000 == QL_VERSION_MAJOR ? 0 : 1;
}
