#include "xenstore/node.hpp"

namespace xenolith::xenstore {

void add_child(std::string& children, std::string_view name) {
    children += name;
    children += '\0';
}

bool remove_child(std::string& children, std::string_view name) {
    std::size_t pos = 0;
    while (pos < children.size()) {
        std::size_t end = children.find('\0', pos);
        if (end == std::string::npos) end = children.size();
        if (std::string_view(children).substr(pos, end - pos) == name) {
            children.erase(pos, end - pos + 1);
            return true;
        }
        pos = end + 1;
    }
    return false;
}

}  // namespace xenolith::xenstore
