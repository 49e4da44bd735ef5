#include "cluster/internal/xml.h"

#include <expat.h>

#include <fmt/format.h>

namespace pk::cluster::internal {
namespace {

struct Builder {
  std::unique_ptr<XmlElement> root;
  std::vector<XmlElement*> open;  // the path from the root to the current element
};

void OnStart(void* data, const XML_Char* name, const XML_Char** attrs) {
  auto* b = static_cast<Builder*>(data);
  auto e = std::make_unique<XmlElement>();
  e->name = name;
  for (int i = 0; attrs[i] && attrs[i + 1]; i += 2) e->attributes[attrs[i]] = attrs[i + 1];
  XmlElement* raw = e.get();
  if (b->open.empty()) {
    b->root = std::move(e);
  } else {
    b->open.back()->children.push_back(std::move(e));
  }
  b->open.push_back(raw);
}

void OnEnd(void* data, const XML_Char*) { static_cast<Builder*>(data)->open.pop_back(); }

void OnText(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  if (!b->open.empty()) b->open.back()->text.append(s, static_cast<size_t>(len));
}

}  // namespace

std::string XmlElement::Attr(const std::string& key, const std::string& fallback) const {
  auto it = attributes.find(key);
  return it == attributes.end() ? fallback : it->second;
}

std::string XmlElement::Text() const {
  size_t b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1);
}

bool XmlElement::BoolAttr(const std::string& key, bool fallback) const {
  auto it = attributes.find(key);
  if (it == attributes.end()) return fallback;
  return it->second == "true" || it->second == "1" || it->second == "yes";
}

const XmlElement* XmlElement::Child(std::string_view n) const {
  for (const auto& c : children) {
    if (c->name == n) return c.get();
  }
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view n) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children) {
    if (c->name == n) out.push_back(c.get());
  }
  return out;
}

Result<std::unique_ptr<XmlElement>> ParseXml(std::string_view text) {
  Builder b;
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) return Internal("XML parser: out of memory");
  XML_SetUserData(p, &b);
  XML_SetElementHandler(p, OnStart, OnEnd);
  XML_SetCharacterDataHandler(p, OnText);
  bool ok = XML_Parse(p, text.data(), static_cast<int>(text.size()), /*isFinal=*/1) == XML_STATUS_OK;
  std::string error = ok ? "" : fmt::format("line {}: {}", XML_GetCurrentLineNumber(p), XML_ErrorString(XML_GetErrorCode(p)));
  XML_ParserFree(p);
  if (!ok) return InvalidArgument(fmt::format("malformed XML at {}", error));
  if (!b.root) return InvalidArgument("XML document has no root element");
  return std::move(b.root);
}

}  // namespace pk::cluster::internal
