// cluster::internal: a small element tree over expat, for the XML that
// Pacemaker's tools print (crm_mon --output-as=xml, cibadmin --query). Only
// elements, attributes and element text are kept; comments are dropped.
// Thread-safety: a parsed tree is immutable.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace pk::cluster::internal {

struct XmlElement {
  std::string name;
  std::map<std::string, std::string> attributes;
  std::vector<std::unique_ptr<XmlElement>> children;
  std::string text;  // character data directly inside the element, as it is

  // `text` without leading and trailing white space.
  std::string Text() const;

  // The attribute's value, or `fallback` when absent.
  std::string Attr(const std::string& key, const std::string& fallback = "") const;
  // "true"/"false" attributes as Pacemaker writes them; absent: `fallback`.
  bool BoolAttr(const std::string& key, bool fallback = false) const;
  // The first child named `name`, or null.
  const XmlElement* Child(std::string_view name) const;
  // Every child named `name`.
  std::vector<const XmlElement*> Children(std::string_view name) const;
};

// The document's root element; InvalidArgument with expat's words and the line on malformed XML.
Result<std::unique_ptr<XmlElement>> ParseXml(std::string_view text);

}  // namespace pk::cluster::internal
