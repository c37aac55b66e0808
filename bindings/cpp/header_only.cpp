// header_only.cpp: a program that includes nothing but queuelink.hpp.
//
// `make test-header` compiles it as C++17 and C++20 with every warning an
// error, so the C++ header builds on its own in both and its C++20 span
// overload compiles.
#include "queuelink.hpp"

int main()
{
    queuelink::Queue queue;
    queue.put("text");
#if __cplusplus >= 202002L
    const std::byte bytes[] = {std::byte{0}, std::byte{1}};
    queue.put(std::span<const std::byte>(bytes));
#endif
    return queue.size() > 0 ? 0 : 1;
}
