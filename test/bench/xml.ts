/**
 * A strict little XML parser for the chart tests: enough of XML 1.0 to reject what a browser would
 * reject in our SVG (unbalanced or crossed tags, unquoted or duplicate attributes, bare `&` or `<`), so
 * the tests need no XML dependency.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: Map<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][\w.:-]*/;
const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function checkCharacters(text: string, where: string): void {
  if (text.includes("<")) throw new Error(`'<' in ${where}`);
  if (text.replace(ENTITY, "").includes("&")) throw new Error(`bare '&' in ${where}`);
}

export function parseXml(source: string): XmlElement {
  let at = 0;
  const rest = () => source.slice(at);
  const skipSpace = () => {
    while (at < source.length && /\s/.test(source[at]!)) at++;
  };
  if (rest().startsWith("<?xml")) {
    const end = source.indexOf("?>", at);
    if (end < 0) throw new Error("unterminated XML declaration");
    at = end + 2;
  }
  const parseElement = (): XmlElement => {
    if (source[at] !== "<") throw new Error(`expected '<' at ${at}`);
    at++;
    const name = NAME.exec(rest())?.[0];
    if (!name) throw new Error(`expected an element name at ${at}`);
    at += name.length;
    const element: XmlElement = { name, attributes: new Map(), children: [], text: "" };
    for (;;) {
      skipSpace();
      if (rest().startsWith("/>")) {
        at += 2;
        return element;
      }
      if (source[at] === ">") break;
      const attribute = /^([A-Za-z_:][\w.:-]*)="([^"]*)"/.exec(rest());
      if (!attribute) throw new Error(`malformed attribute in <${name}> at ${at}`);
      const [whole, key, value] = attribute as unknown as [string, string, string];
      if (element.attributes.has(key)) throw new Error(`duplicate attribute ${key} in <${name}>`);
      checkCharacters(value, `attribute ${key}`);
      element.attributes.set(key, value);
      at += whole.length;
    }
    at++;
    for (;;) {
      const next = source.indexOf("<", at);
      if (next < 0) throw new Error(`<${name}> is never closed`);
      const text = source.slice(at, next);
      checkCharacters(text, `text of <${name}>`);
      element.text += text;
      at = next;
      if (rest().startsWith("</")) {
        const closing = new RegExp(`^</${name}\\s*>`).exec(rest());
        if (!closing) throw new Error(`<${name}> closed by ${rest().slice(0, 20)}`);
        at += closing[0].length;
        return element;
      }
      element.children.push(parseElement());
    }
  };
  skipSpace();
  const root = parseElement();
  skipSpace();
  if (at !== source.length) throw new Error(`content after the root element at ${at}`);
  return root;
}

/** All elements of the tree, depth first, the root included. */
export function allElements(root: XmlElement): XmlElement[] {
  return [root, ...root.children.flatMap(allElements)];
}
